// Calls to the agent service contract (billing plans and subscriptions, the status page) through its
// generated SDK, with the signed-in credential. Kept out of session.ts so that the first load does not
// carry this second client: only the module screens import it.
import { AgentServiceClient } from '../../sdk/agent-service/index.ts';
import { ApiFailure, baseUrl, freshToken, loadSession, toFailure } from './session.ts';

/** The body itself (that contract has no envelope); a failure becomes an ApiFailure with the server's `detail`. */
export async function serviceApi<T>(call: (client: AgentServiceClient) => Promise<{ data: T }>, asAdmin = false): Promise<T> {
  const session = loadSession();
  const token = asAdmin ? session?.adminKey : session?.token ? await freshToken(session) : undefined;
  if (!token) throw new ApiFailure(asAdmin ? 'Sign in with the system admin key for this' : 'Not signed in', asAdmin ? 403 : 401);
  try {
    return (await call(new AgentServiceClient({ baseUrl: baseUrl(), token, fetch: (...args) => fetch(...args) }))).data;
  } catch (error) {
    throw toFailure(error);
  }
}
