import type { Command } from './command.js';
import { doctorCommand } from './commands/doctor.js';

export const COMMANDS: Command[] = [doctorCommand];
