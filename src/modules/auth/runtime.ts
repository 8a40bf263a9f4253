import type { Kernel } from '../../core/kernel.ts';
import { outboxSmsProvider, type SmsProvider } from './flows/messages.ts';
import { SigningKeys } from './sessions/signing-keys.ts';
import { Throttles } from './throttle.ts';

/** What identity keeps per running kernel: signing keys, throttles. Kernels never share one (tests run many). */
export interface IdentityRuntime {
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
    rt = { keys: new SigningKeys(kernel), throttles: new Throttles(kernel), sms: outboxSmsProvider };
    runtimes.set(kernel, rt);
  }
  return rt;
}
