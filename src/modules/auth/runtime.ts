import type { Kernel } from '../../core/kernel.ts';
import { outboxSmsProvider, type SmsProvider } from './messages.ts';
import { SecretBox } from './secret-box.ts';
import { SigningKeys } from './signing-keys.ts';
import { Throttles } from './throttle.ts';

/** What identity keeps per running kernel: key material, throttles. Kernels never share one (tests run many). */
export interface IdentityRuntime {
  box: SecretBox;
  keys: SigningKeys;
  throttles: Throttles;
  /** Where SMS codes go: the sms_outbox table unless a deployment plugs in a gateway (setSmsProvider). */
  sms: SmsProvider;
}

const runtimes = new WeakMap<Kernel, IdentityRuntime>();

/** Replaces the SMS provider of this kernel (a Twilio/SNS/HTTP gateway implementing SmsProvider). */
export function setSmsProvider(kernel: Kernel, provider: SmsProvider): void {
  runtime(kernel).sms = provider;
}

export function runtime(kernel: Kernel): IdentityRuntime {
  let rt = runtimes.get(kernel);
  if (!rt) {
    const box = new SecretBox(kernel.config.PLINTH_ENCRYPTION_KEY);
    rt = { box, keys: new SigningKeys(kernel, box), throttles: new Throttles(kernel), sms: outboxSmsProvider };
    runtimes.set(kernel, rt);
  }
  return rt;
}
