// SPDX-License-Identifier: Apache-2.0
// Every command, loaded on demand: a CLI call (or a CNI-driven one) pays only for the modules its own command
// needs, not for the agent's, the kernel's or etcd's.
import type { Command } from './command.js';

export const COMMAND_LOADERS: Record<string, () => Promise<Command>> = {
  load: async () => (await import('./commands/load.js')).loadCommand,
  unload: async () => (await import('./commands/unload.js')).unloadCommand,
  apply: async () => (await import('./commands/apply.js')).applyCommand,
  delete: async () => (await import('./commands/delete.js')).deleteCommand,
  validate: async () => (await import('./commands/validate.js')).validateCommand,
  get: async () => (await import('./commands/get.js')).getCommand,
  status: async () => (await import('./commands/status.js')).statusCommand,
  counters: async () => (await import('./commands/counters.js')).countersCommand,
  doctor: async () => (await import('./commands/doctor.js')).doctorCommand,
  ipam: async () => (await import('./commands/ipam.js')).ipamCommand,
};

export async function loadAllCommands(): Promise<Command[]> {
  return Promise.all(Object.values(COMMAND_LOADERS).map((load) => load()));
}
