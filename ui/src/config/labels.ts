// Readable names for the configuration enums.
import { ImplementationComplexity, IntegrationType, MappingStatus } from "@sdk/analytics/config/v1/config_pb.js";

export const COMPLEXITIES: [ImplementationComplexity, string][] = [
  [ImplementationComplexity.OTB, "Out of the box"],
  [ImplementationComplexity.CUSTOM_BASIC, "Custom (basic)"],
  [ImplementationComplexity.RBAC, "Role-based access"],
  [ImplementationComplexity.DYNAMIC_RBAC, "Dynamic role-based access"],
];

export const INTEGRATION_TYPES: [IntegrationType, string][] = [
  [IntegrationType.BATCH_CONFORMED, "Batch, conformed"],
  [IntegrationType.BATCH_NON_CONFORMED_SINGLE_SOURCE, "Batch, non-conformed (single source)"],
  [IntegrationType.BATCH_NON_CONFORMED_MULTI_SOURCE, "Batch, non-conformed (multiple sources)"],
  [IntegrationType.BATCH_ENTITY_RESOLUTION, "Batch with entity resolution"],
  [IntegrationType.STREAMING_API_ARCHITECTED, "Streaming API (architected)"],
  [IntegrationType.STREAMING_API_NON_ARCHITECTED, "Streaming API (not architected)"],
];

export const MAPPING_STATUS: Record<number, string> = {
  [MappingStatus.VALID]: "valid",
  [MappingStatus.INCOMPLETE]: "incomplete",
  [MappingStatus.INVALID]: "invalid",
};
