import type { Kernel } from '../../core/kernel.ts';
import { SecretBox } from './secret-box.ts';
import { SigningKeys } from './signing-keys.ts';
import { Throttles } from './throttle.ts';

/** What identity keeps per running kernel: key material, throttles. Kernels never share one (tests run many). */
export interface IdentityRuntime {
  box: SecretBox;
  keys: SigningKeys;
  throttles: Throttles;
}

const runtimes = new WeakMap<Kernel, IdentityRuntime>();

export function runtime(kernel: Kernel): IdentityRuntime {
  let rt = runtimes.get(kernel);
  if (!rt) {
    const box = new SecretBox(kernel.config.PLINTH_ENCRYPTION_KEY);
    rt = { box, keys: new SigningKeys(kernel, box), throttles: new Throttles(kernel) };
    runtimes.set(kernel, rt);
  }
  return rt;
}
