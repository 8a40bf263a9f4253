import { defineModule } from '../../core/module.ts';
import { FILE_EVENTS } from './events.ts';
import { registerFileJobs } from './jobs.ts';
import { filesRoutes } from './routes.ts';
import { exportUserFiles, storageUsed } from './service.ts';

export { FILE_EVENTS } from './events.ts';
export { runCleanup, CLEANUP_JOB } from './jobs.ts';
export { directUpload } from './routes.ts';
export { storageUsed, storageLimit, batchRead, deleteFile, getFile, getFileRow, fileDto, exportUserFiles, searchFiles, type FileDto } from './service.ts';

export const filesModule = defineModule({
  name: 'files',
  events: FILE_EVENTS,
  register: registerFileJobs,
  hooks: { storageUsed, userExport: exportUserFiles },
  routes: () => filesRoutes(),
});
export { createSlot, completeSlot } from './service.ts';
export { verifySlotBytes } from './upload.ts';
export { signContentQuery } from './signing.ts';
