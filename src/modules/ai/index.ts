import { defineModule } from '../../core/module.ts';
import { AI_EVENTS } from './events.ts';
import { registerRetrieval } from './retrieval/index.ts';
import { aiRoutes } from './routes.ts';

export type { EmbeddingModel, EmbeddingResult } from './providers/types.ts';

export const aiModule = defineModule({
  name: 'ai',
  events: AI_EVENTS,
  register: (kernel) => registerRetrieval(kernel),
  routes: () => aiRoutes(),
});
export { searchKnowledge, vectorIndexKind, type KnowledgeHit, type KnowledgeQuery, type VectorIndexKind } from './retrieval/index.ts';
export { localEmbeddings } from './providers/local-embeddings.ts';

// What the agents module builds on: providers, platform tools, usage and quota, provider errors.
export { checkSystemProvider, listProviders, resolveProvider, systemProvider, type ProviderHealth } from './providers/service.ts';
export { providerError } from './providers/errors.ts';
export { TOOL_NAMES, toolSpecs, runToolAs, type ToolName } from './chat/tools.ts';
export { assertQuota, recordUsage } from './usage.ts';
// An agent run's claim reads providers and the month's tokens with the run (or from this process's fresh state).
export { checkQuota } from './usage.ts';
export { resolveFrom, tenantProviders } from './providers/service.ts';
export { freshState, saveState } from './state.ts';
export type { AiProvider, ChatMessage, ToolCall, ToolSpec, TokenUsage } from './providers/types.ts';
// For contracts served over the AI module (src/surfaces/assistant).
export { answer, answerLive, wantsStream, type AnswerInput, type AnswerResult, type ExtraTool } from './chat/engine.ts';
export type { AnswerEvent, LiveAnswer } from './chat/live.ts';
export { agentActivity, conversationTenant, conversationDto, conversationMessages, conversationSummaries, createConversation, deleteConversation, findConversation, listConversations, searchConversations } from './conversations/service.ts';
export { dropFromIndex, listFileIndex, queueFiles } from './retrieval/files.ts';
export { monthlyLimit as aiTokenLimit, tokensThisMonth } from './usage.ts';
export { runTextTask, TEXT_TASKS, type TextTaskInput } from './tasks/service.ts';
export { describe as describeImage, describeBytes as describeImageBytes, DESCRIBE_MAX_BYTES, DESCRIBE_TYPES } from './tasks/service.ts';
export {
  addVectorStoreFile,
  createVectorStore,
  deleteVectorStore,
  getVectorStore,
  getVectorStoreFile,
  listVectorStoreFiles,
  listVectorStores,
  removeVectorStoreFile,
  searchVectorStore,
} from './retrieval/stores.ts';
