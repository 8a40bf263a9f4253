import type { SurfaceDescriptor } from './surface.ts';
import { agentPlatformSurface } from './agent-platform/index.ts';
import { fieldServiceSurface } from './field-service/index.ts';
import { assistantSurface } from './assistant/index.ts';
import { agentServiceSurface } from './agent-service/index.ts';

/**
 * The other contracts, in the order they claim paths on the main host (DESIGN.md, "Surfaces"): a
 * surface is mounted there only where no contract before it has the same method and path.
 */
export const SURFACES: readonly SurfaceDescriptor[] = [fieldServiceSurface, agentPlatformSurface, agentServiceSurface, assistantSurface];

export { mountSurfaces, type BuiltSurface, type MountedSurfaces } from './surface.ts';
