import type { Command } from './command.js';
import { applyCommand } from './commands/apply.js';
import { countersCommand } from './commands/counters.js';
import { deleteCommand } from './commands/delete.js';
import { doctorCommand } from './commands/doctor.js';
import { getCommand } from './commands/get.js';
import { loadCommand } from './commands/load.js';
import { statusCommand } from './commands/status.js';
import { unloadCommand } from './commands/unload.js';
import { validateCommand } from './commands/validate.js';

export const COMMANDS: Command[] = [
  loadCommand,
  unloadCommand,
  applyCommand,
  deleteCommand,
  validateCommand,
  getCommand,
  statusCommand,
  countersCommand,
  doctorCommand,
];
