import { defineEvents, z } from '../../core/events/catalog.ts';

const id = z.string();

export const INSIGHTS_EVENTS = [
  ...defineEvents('saved_report', {
    'saved_report.created': { description: 'A report definition was saved', payload: z.object({ report_id: id, name: z.string(), type: z.string() }) },
    'saved_report.updated': { description: 'A saved report was changed', payload: z.object({ report_id: id, changes: z.array(z.string()) }) },
    'saved_report.deleted': { description: 'A saved report was deleted with its runs', payload: z.object({ report_id: id }) },
    'saved_report.run': { description: 'A saved report ran (on demand or on its schedule); the result is kept as a run', payload: z.object({ report_id: id, run_id: id, trigger: z.string() }) },
  }),
  ...defineEvents('dashboard', {
    'dashboard.created': { description: 'A dashboard was created', payload: z.object({ dashboard_id: id, name: z.string() }) },
    'dashboard.updated': { description: 'A dashboard or one of its widgets was changed, shared, unshared or its share token rotated', payload: z.object({ dashboard_id: id, changes: z.array(z.string()) }) },
    'dashboard.deleted': { description: 'A dashboard was deleted with its widgets', payload: z.object({ dashboard_id: id }) },
  }),
  ...defineEvents('form', {
    'form.created': { description: 'A form was created (or duplicated)', payload: z.object({ form_id: id, name: z.string(), object_type_id: id }) },
    'form.updated': { description: 'A form was changed', payload: z.object({ form_id: id, changes: z.array(z.string()) }) },
    'form.deleted': { description: 'A form was deleted with its submissions', payload: z.object({ form_id: id }) },
    'form.submitted': { description: 'A public form was submitted: the record was created in the same transaction', payload: z.object({ form_id: id, submission_id: id, object_id: id }) },
  }),
  ...defineEvents('branding', {
    'branding.updated': { description: 'The tenant\'s branding changed', payload: z.object({ changes: z.array(z.string()) }) },
    'branding.domain_verified': { description: 'The tenant proved its custom domain with the DNS TXT record; the domain now serves its public pages', payload: z.object({ custom_domain: z.string() }) },
  }),
  ...defineEvents('short_url', {
    'short_url.created': { description: 'A short URL was created', payload: z.object({ slug: z.string(), target_url: z.string() }) },
    'short_url.updated': { description: 'A short URL was changed', payload: z.object({ slug: z.string(), changes: z.array(z.string()) }) },
    'short_url.deleted': { description: 'A short URL was deleted', payload: z.object({ slug: z.string() }) },
  }),
];
