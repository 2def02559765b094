// SPDX-License-Identifier: Apache-2.0
// etcd facts the rest of the code may need without loading the etcd client itself.

export const ETCD_PREFIX = '/bpf-overlay/';

/** etcd's default --max-txn-ops. A batch bigger than this cannot be atomic, so it is refused, never split. */
export const ETCD_DEFAULT_MAX_TXN_OPS = 128;
