import type { TenantContext } from '../../core/context.ts';
import { ApiError } from '../../core/http/errors.ts';
import type { GovernancePatch } from '../governance/index.ts';
import { requireRoleName } from '../roles/index.ts';
import { objectTypeRef } from './records/references.ts';
import { loadSchema } from './types/service.ts';

function invalid(field: string, message: string): ApiError {
  return new ApiError('VALIDATION_ERROR', `body.${field}: ${message}`, { details: { issues: [{ field, location: 'body', message }] } });
}

/**
 * The data engine's part of a governance change: masked properties and approval-held types must
 * name existing types (by id or name, stored as ids), masked properties existing properties, and
 * their roles existing roles (stored by name, as users carry them).
 */
export async function checkGovernance(ctx: TenantContext, patch: GovernancePatch): Promise<GovernancePatch> {
  const out = { ...patch };
  if (patch.masked_properties) {
    out.masked_properties = [];
    for (const [i, rule] of patch.masked_properties.entries()) {
      const type = await objectTypeRef(ctx, rule.object_type_id, `masked_properties.${i}.object_type_id`);
      const schema = await loadSchema(ctx, type.id);
      if (!schema.props.some((p) => p.name === rule.property)) throw invalid(`masked_properties.${i}.property`, `${type.name} has no property '${rule.property}'`);
      const roles: string[] = [];
      for (const [j, ref] of rule.roles.entries()) roles.push(await requireRoleName(ctx, ref, `masked_properties.${i}.roles.${j}`));
      out.masked_properties.push({ ...rule, object_type_id: type.id, roles: [...new Set(roles)] });
    }
  }
  if (patch.approval_required_object_types) {
    const ids: string[] = [];
    for (const [i, ref] of patch.approval_required_object_types.entries()) {
      ids.push((await objectTypeRef(ctx, ref, `approval_required_object_types.${i}`)).id);
    }
    out.approval_required_object_types = [...new Set(ids)];
  }
  return out;
}
