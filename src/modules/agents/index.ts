import { defineModule } from '../../core/module.ts';
import { AGENT_EVENTS } from './events.ts';
import { agentRoutes } from './routes.ts';
import { registerRunner } from './runs/runner.ts';
import { registerSchedules } from './schedules.ts';
import { registerWorkflows } from './workflows.ts';

export const agentsModule = defineModule({
  name: 'agents',
  events: AGENT_EVENTS,
  register: (kernel) => {
    registerRunner(kernel);
    registerSchedules(kernel);
    registerWorkflows(kernel);
  },
  routes: () => agentRoutes(),
});

export { AGENT_EVENTS } from './events.ts';
export { checkHttpTools, createAgent, deleteAgent, findAgentByKey, getAgent, listAgents, updateAgent, agentDto, type AgentDto, type AppScope } from './service.ts';
export { cancelRun, createRun, getRun, listRuns, runEvents, runDto, findRun, type RunDto } from './runs/runs.ts';
export { executeRun, sweepRuns } from './runs/runner.ts';
export { followRun, followRuns } from './runs/stream.ts';
export { createSchedule, deleteSchedule, fireDueSchedules, getScheduleDto, listSchedules, updateSchedule } from './schedules.ts';
export { resumeAfter, runStream } from './routes.ts';
export * from './schemas.ts';
export type { RunEvent, StatusMessage } from './runs/log.ts';
export * from './apps/apps.ts';
export { TOOL_NAMES as TOOL_NAMES_FOR_AGENTS, listProviders as listModelProviders } from '../ai/index.ts';
export {
  bindContainer,
  codeToolSpec,
  CODE_TOOL,
  CONTAINER_LIMITS,
  containerDto,
  containerOfAgent,
  createContainer,
  deleteContainer,
  findContainer,
  listContainers,
  runInContainer,
  unbindContainer,
  type ContainerDto,
} from './containers.ts';
export {
  cancelWorkflowRun,
  findWorkflowRun,
  listWorkflowRuns,
  listWorkflows,
  startWorkflow,
  watchWorkflowRun,
  workflowDescriptor,
  workflowRunDto,
  type WorkflowRunDto,
  type WorkflowStage,
} from './workflows.ts';
export {
  checkConnectionUrl,
  CONNECTION_TYPES,
  connectionDto,
  createConnection,
  deleteConnection,
  findConnection,
  listConnections,
  updateConnection,
  type ConnectionDto,
  type ConnectionInput,
  type ConnectionPatch,
} from './apps/connections.ts';
export { checkPackage, exportPackage, findPackage, importPackage, listPackages, MAX_MANIFEST_BYTES, PackageManifestSchema, packageDto, uninstallPackage, type PackageDto, type PackageManifest } from './apps/packages.ts';
export type { AgentRow, ConnectionType, WorkflowRunStep } from './tables.ts';
