#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
// The CNI plugin binary (installed as /opt/cni/bin/bpf-overlay through bin/bpf-overlay-cni).
import { main } from './control/cni/main.js';

await main();
