import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Stripe from 'stripe';

/**
 * A stateful stand-in for Stripe's API that the real `stripe` SDK talks to (STRIPE_API_BASE points the
 * SDK here): customers, products and prices (found by lookup key), subscriptions with their items,
 * billing meter events (one per identifier, as Stripe enforces) and checkout sessions. It also makes
 * webhook events and signs them with the SDK's own generateTestHeaderString.
 */

type Obj = Record<string, any>;

export interface FakeStripe {
  url: string;
  customers: Map<string, Obj>;
  prices: Map<string, Obj>;
  subscriptions: Map<string, Obj>;
  meterEvents: Map<string, Obj>;
  checkoutSessions: Map<string, Obj>;
  /** Every request: method, path and the decoded form body. */
  requests: { method: string; path: string; body: Obj }[];
  /** Status of the next subscriptions made (`active` by default: a customer with a working card). */
  subscriptionStatus: string;
  /** A Stripe Event of `type` about `object`, `created` at the given Unix second (now by default). */
  event(type: string, object: Obj, created?: number): Obj;
  /** An invoice of a subscription, as invoice.* events carry it. */
  invoice(subscriptionId: string, status: 'paid' | 'open', created?: number): Obj;
  /** The body and Stripe-Signature header of an event, signed with `secret` at `timestamp` (Unix seconds). */
  sign(event: Obj, secret: string, timestamp?: number): { body: string; signature: string };
  close(): Promise<void>;
}

const id = (prefix: string) => `${prefix}_${randomBytes(12).toString('hex')}`;
const nowSeconds = () => Math.floor(Date.now() / 1000);

/** Stripe's form encoding (`items[0][price]=...`) back into objects and arrays. */
function decodeForm(text: string): Obj {
  const root: Obj = {};
  for (const [key, value] of new URLSearchParams(text)) {
    const parts = key.split('[').map((p) => p.replace(/]$/, ''));
    let node: any = root;
    parts.forEach((part, i) => {
      const last = i === parts.length - 1;
      const nextIsIndex = !last && /^\d+$/.test(parts[i + 1]!);
      if (last) node[part] = value;
      else node = node[part] ??= nextIsIndex ? [] : {};
    });
  }
  return root;
}

function list(data: Obj[], url: string): Obj {
  return { object: 'list', data, has_more: false, url };
}

export async function startFakeStripe(): Promise<FakeStripe> {
  const customers = new Map<string, Obj>();
  const products = new Map<string, Obj>();
  const prices = new Map<string, Obj>();
  const subscriptions = new Map<string, Obj>();
  const meterEvents = new Map<string, Obj>();
  const checkoutSessions = new Map<string, Obj>();
  const requests: FakeStripe['requests'] = [];
  const signer = new Stripe('sk_test_signer');

  const fake = { subscriptionStatus: 'active' } as FakeStripe;

  const item = (sub: Obj, priceId: string, quantity: number): Obj => {
    const start = sub.created as number;
    return {
      id: id('si'),
      object: 'subscription_item',
      price: prices.get(priceId) ?? { id: priceId, object: 'price', lookup_key: null, metadata: {} },
      quantity,
      subscription: sub.id,
      current_period_start: start,
      current_period_end: start + 30 * 86_400,
      created: start,
      metadata: {},
    };
  };

  const handle = (method: string, path: string, query: URLSearchParams, body: Obj): [number, Obj] => {
    const segments = path.split('/').filter(Boolean); // v1, resource, id...
    const [, resource, objectId] = segments;
    const missing = (what: string): [number, Obj] => [404, { error: { type: 'invalid_request_error', code: 'resource_missing', message: `No such ${what}: '${objectId}'` } }];

    if (resource === 'customers') {
      if (method === 'POST' && !objectId) {
        const customer = { id: id('cus'), object: 'customer', email: body.email ?? null, name: body.name ?? null, metadata: body.metadata ?? {}, created: nowSeconds(), livemode: false };
        customers.set(customer.id, customer);
        return [200, customer];
      }
      const customer = customers.get(objectId!);
      if (!customer) return missing('customer');
      if (method === 'POST') Object.assign(customer, { ...(body.email !== undefined ? { email: body.email || null } : {}), ...(body.metadata ? { metadata: { ...customer.metadata, ...body.metadata } } : {}) });
      return [200, customer];
    }

    if (resource === 'prices') {
      if (method === 'GET' && !objectId) {
        const keys = [...query.entries()].filter(([k]) => k.startsWith('lookup_keys')).map(([, v]) => v);
        const found = [...prices.values()].filter((p) => p.active && (keys.length === 0 || keys.includes(p.lookup_key)));
        return [200, list(found.slice(0, Number(query.get('limit') ?? 10)), '/v1/prices')];
      }
      if (method === 'POST' && !objectId) {
        let product = body.product;
        if (!product && body.product_data) {
          product = id('prod');
          products.set(product, { id: product, object: 'product', name: body.product_data.name, metadata: body.product_data.metadata ?? {} });
        }
        const price = {
          id: id('price'),
          object: 'price',
          active: true,
          currency: body.currency,
          unit_amount: Number(body.unit_amount),
          recurring: { interval: body.recurring?.interval ?? 'month', interval_count: Number(body.recurring?.interval_count ?? 1) },
          lookup_key: body.lookup_key ?? null,
          product,
          metadata: body.metadata ?? {},
          created: nowSeconds(),
        };
        prices.set(price.id, price);
        return [200, price];
      }
      const price = prices.get(objectId!);
      return price ? [200, price] : missing('price');
    }

    if (resource === 'subscriptions') {
      if (method === 'POST' && !objectId) {
        if (!customers.has(body.customer)) return [400, { error: { type: 'invalid_request_error', code: 'resource_missing', param: 'customer', message: `No such customer: '${body.customer}'` } }];
        const sub: Obj = {
          id: id('sub'),
          object: 'subscription',
          customer: body.customer,
          status: fake.subscriptionStatus,
          cancel_at_period_end: body.cancel_at_period_end === 'true',
          cancel_at: null,
          canceled_at: null,
          trial_end: null,
          metadata: body.metadata ?? {},
          created: nowSeconds(),
          livemode: false,
        };
        sub.items = list((body.items ?? []).map((i: Obj) => item(sub, i.price, Number(i.quantity ?? 1))), `/v1/subscription_items?subscription=${sub.id}`);
        subscriptions.set(sub.id, sub);
        return [200, sub];
      }
      const sub = subscriptions.get(objectId!);
      if (!sub) return missing('subscription');
      if (method === 'DELETE') {
        Object.assign(sub, { status: 'canceled', canceled_at: nowSeconds(), ended_at: nowSeconds() });
        return [200, sub];
      }
      if (method === 'POST') {
        if (sub.status === 'canceled') return [400, { error: { type: 'invalid_request_error', message: 'A canceled subscription can only update its cancellation_details and metadata.' } }];
        if (body.cancel_at_period_end !== undefined) sub.cancel_at_period_end = body.cancel_at_period_end === 'true';
        if (body.metadata) sub.metadata = { ...sub.metadata, ...body.metadata };
        for (const change of body.items ?? []) {
          const existing = sub.items.data.find((i: Obj) => i.id === change.id);
          if (!existing) {
            sub.items.data.push(item(sub, change.price, Number(change.quantity ?? 1)));
            continue;
          }
          if (change.price) existing.price = prices.get(change.price) ?? existing.price;
          if (change.quantity) existing.quantity = Number(change.quantity);
        }
      }
      return [200, sub];
    }

    if (resource === 'billing' && segments[2] === 'meter_events' && method === 'POST') {
      const identifier = body.identifier ?? id('mev');
      const event = { object: 'billing.meter_event', event_name: body.event_name, identifier, payload: body.payload ?? {}, timestamp: Number(body.timestamp ?? nowSeconds()), created: nowSeconds(), livemode: false };
      // Stripe keeps one event per identifier.
      if (!meterEvents.has(identifier)) meterEvents.set(identifier, event);
      return [200, meterEvents.get(identifier)!];
    }

    if (resource === 'checkout' && segments[2] === 'sessions') {
      if (method === 'POST') {
        const session = {
          id: id('cs'),
          object: 'checkout.session',
          mode: body.mode ?? 'subscription',
          customer: body.customer ?? null,
          client_reference_id: body.client_reference_id ?? null,
          metadata: body.metadata ?? {},
          status: 'open',
          payment_status: 'unpaid',
          subscription: null,
          url: `https://checkout.stripe.test/${id('pay')}`,
          created: nowSeconds(),
        };
        checkoutSessions.set(session.id, session);
        return [200, session];
      }
      const session = checkoutSessions.get(segments[3]!);
      return session ? [200, session] : missing('checkout session');
    }

    return [404, { error: { type: 'invalid_request_error', message: `Unrecognized request URL (${method}: ${path})` } }];
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://fake');
      const body = decodeForm(Buffer.concat(chunks).toString('utf8'));
      requests.push({ method: req.method ?? 'GET', path: url.pathname, body });
      let status: number;
      let payload: Obj;
      if (!/^Bearer sk_/.test(req.headers.authorization ?? '')) [status, payload] = [401, { error: { type: 'invalid_request_error', message: 'Invalid API Key provided' } }];
      else [status, payload] = handle(req.method ?? 'GET', url.pathname, url.searchParams, body);
      res.writeHead(status, { 'content-type': 'application/json', 'request-id': id('req') });
      res.end(JSON.stringify(payload));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return Object.assign(fake, {
    url: `http://127.0.0.1:${port}`,
    customers,
    prices,
    subscriptions,
    meterEvents,
    checkoutSessions,
    requests,
    event(type: string, object: Obj, created = nowSeconds()): Obj {
      return {
        id: id('evt'),
        object: 'event',
        api_version: '2026-11-18.endive',
        created,
        data: { object: structuredClone(object) },
        livemode: false,
        pending_webhooks: 1,
        request: { id: null, idempotency_key: null },
        type,
      };
    },
    invoice(subscriptionId: string, status: 'paid' | 'open', created = nowSeconds()): Obj {
      const sub = subscriptions.get(subscriptionId);
      return {
        id: id('in'),
        object: 'invoice',
        customer: sub?.customer ?? null,
        status,
        amount_due: sub?.items.data[0]?.price.unit_amount ?? 0,
        currency: 'usd',
        billing_reason: 'subscription_cycle',
        collection_method: 'charge_automatically',
        hosted_invoice_url: 'https://invoice.stripe.test/i/1',
        period_start: created - 30 * 86_400,
        period_end: created,
        parent: { type: 'subscription_details', subscription_details: { subscription: subscriptionId, metadata: sub?.metadata ?? {} } },
        created,
      };
    },
    sign(event: Obj, secret: string, timestamp = nowSeconds()) {
      const body = JSON.stringify(event);
      return { body, signature: signer.webhooks.generateTestHeaderString({ payload: body, secret, timestamp }) };
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  });
}
