import { create } from '@bufbuild/protobuf';
import {
  type AccessMode as CoreAccessMode,
  DeliverFilter as CoreDeliverFilter,
  DeliverPolicy as CoreDeliverPolicy,
  type PChannelInfo as CorePChannelInfo,
  pchannel,
} from '@walstream/core';
import {
  AccessMode,
  type DeliverFilter,
  DeliverFilterSchema,
  type DeliverPolicy,
  DeliverPolicySchema,
  EmptySchema,
  MessageTypeFilterSchema,
  type PChannelInfo,
  PChannelInfoSchema,
} from '../gen/walstream/v1/common_pb.js';
import { invalidWire, required } from './invalid.js';
import { fromWireMessageId, toWireMessageId } from './messages.js';

export function toWirePChannel(info: CorePChannelInfo): PChannelInfo {
  return create(PChannelInfoSchema, {
    name: info.name,
    term: info.term,
    accessMode: info.accessMode === 'ro' ? AccessMode.READ_ONLY : AccessMode.READ_WRITE_UNSPECIFIED,
  });
}

/** A pchannel as a request names it; an empty name, a negative term or an unknown access mode is refused. */
export function fromWirePChannel(info: PChannelInfo | undefined, field = 'pchannel'): CorePChannelInfo {
  const wire = required(info, field);
  let accessMode: CoreAccessMode;
  switch (wire.accessMode) {
    case AccessMode.READ_WRITE_UNSPECIFIED:
      accessMode = 'rw';
      break;
    case AccessMode.READ_ONLY:
      accessMode = 'ro';
      break;
    default:
      throw invalidWire(`${field}: unknown access mode ${wire.accessMode}`, { details: { field } });
  }
  return rethrowInvalid(field, () => pchannel(wire.name, wire.term, accessMode));
}

export function toWireDeliverPolicy(policy: CoreDeliverPolicy): DeliverPolicy {
  switch (policy.kind) {
    case 'all':
      return create(DeliverPolicySchema, { policy: { case: 'all', value: create(EmptySchema) } });
    case 'latest':
      return create(DeliverPolicySchema, { policy: { case: 'latest', value: create(EmptySchema) } });
    case 'startFrom':
      return create(DeliverPolicySchema, {
        policy: { case: 'startFrom', value: toWireMessageId(policy.id) },
      });
    case 'startAfter':
      return create(DeliverPolicySchema, {
        policy: { case: 'startAfter', value: toWireMessageId(policy.id) },
      });
  }
}

/** A reader's start. Unset is refused rather than read as "all": a consumer must say where it starts. */
export function fromWireDeliverPolicy(
  policy: DeliverPolicy | undefined,
  field = 'deliver_policy',
): CoreDeliverPolicy {
  const wire = required(policy, field);
  switch (wire.policy.case) {
    case 'all':
      return CoreDeliverPolicy.all();
    case 'latest':
      return CoreDeliverPolicy.latest();
    case 'startFrom':
      return CoreDeliverPolicy.startFrom(fromWireMessageId(wire.policy.value, `${field}.start_from`));
    case 'startAfter':
      return CoreDeliverPolicy.startAfter(fromWireMessageId(wire.policy.value, `${field}.start_after`));
    default:
      throw invalidWire(`${field} names no policy`, { details: { field } });
  }
}

function toWireFilter(filter: CoreDeliverFilter): DeliverFilter {
  switch (filter.kind) {
    case 'timeTickGT':
      return create(DeliverFilterSchema, { filter: { case: 'timeTickGt', value: filter.timeTick } });
    case 'timeTickGTE':
      return create(DeliverFilterSchema, { filter: { case: 'timeTickGte', value: filter.timeTick } });
    case 'messageType':
      return create(DeliverFilterSchema, {
        filter: {
          case: 'messageType',
          value: create(MessageTypeFilterSchema, { messageTypes: [...filter.types] }),
        },
      });
  }
}

export function toWireFilters(filters: readonly CoreDeliverFilter[]): DeliverFilter[] {
  return filters.map(toWireFilter);
}

/** Filters as core checks them: a type filter naming an unregistered or a system type is refused. */
export function fromWireFilters(filters: readonly DeliverFilter[], field = 'filters'): CoreDeliverFilter[] {
  return filters.map((wire, i) => {
    const at = `${field}[${i}]`;
    switch (wire.filter.case) {
      case 'timeTickGt':
        return CoreDeliverFilter.timeTickGT(wire.filter.value);
      case 'timeTickGte':
        return CoreDeliverFilter.timeTickGTE(wire.filter.value);
      case 'messageType': {
        const types = wire.filter.value.messageTypes;
        return rethrowInvalid(at, () => CoreDeliverFilter.messageType(...types));
      }
      default:
        throw invalidWire(`${at} names no filter`, { details: { field: at } });
    }
  });
}

function rethrowInvalid<T>(field: string, build: () => T): T {
  try {
    return build();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw invalidWire(`${field}: ${message}`, { cause: error, details: { field } });
  }
}
