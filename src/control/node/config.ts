// SPDX-License-Identifier: Apache-2.0
// Which OverlayConfiguration applies: the one named "default" (like Calico's FelixConfiguration "default"),
// with defaults for every field it leaves out.
import { overlayConfigWithDefaults } from '../model/parse.js';
import type { OverlayConfiguration, OverlayConfigurationSpec } from '../model/types.js';

export const DEFAULT_CONFIG_NAME = 'default';

export function resolveConfig(configs: readonly OverlayConfiguration[]): Required<OverlayConfigurationSpec> {
  return overlayConfigWithDefaults(configs.find((c) => c.metadata.name === DEFAULT_CONFIG_NAME)?.spec);
}
