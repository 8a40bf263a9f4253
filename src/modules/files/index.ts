export { FILE_EVENTS } from './events.ts';
export { registerFileJobs as registerFiles, runCleanup, CLEANUP_JOB } from './jobs.ts';
export { storageUsed, getFile, fileDto, exportUserFiles, type FileDto } from './service.ts';
