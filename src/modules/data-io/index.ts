import type { Kernel } from '../../core/kernel.ts';
import { defineModule } from '../../core/module.ts';
import { DATA_IO_EVENTS } from './events.ts';
import { dataIoRoutes } from './routes.ts';
import { CLEANUP_JOB, cleanupJobs, EXPORT_JOB, IMPORT_JOB, runExport, runImport, type JobData } from './service.ts';

export { DATA_IO_EVENTS } from './events.ts';

/** The import and export workers, and the daily removal of expired exports and interrupted inline imports. */
function registerDataIo(kernel: Kernel): void {
  kernel.jobs.define<JobData>(IMPORT_JOB, { retryLimit: 2, retryDelay: 5, expireInSeconds: 60 * 60, handler: async (data) => void (await runImport(kernel, data)) });
  kernel.jobs.define<JobData>(EXPORT_JOB, { retryLimit: 2, retryDelay: 5, expireInSeconds: 60 * 60, handler: (data) => runExport(kernel, data) });
  kernel.jobs.define(CLEANUP_JOB, { retryLimit: 1, handler: () => cleanupJobs(kernel) });
  void kernel.jobs.schedule(CLEANUP_JOB, '47 3 * * *');
}

export const dataIoModule = defineModule({ name: 'data-io', events: DATA_IO_EVENTS, register: registerDataIo, routes: () => dataIoRoutes() });
