// Trained networks as a file: what a training stage leaves for a later stage (an attack) to load.
import type { Architecture } from '@ntk/spec';
import type { HostTensor } from './checkpoint.ts';
import { decodeFloat32Document, encodeFloat32Document } from './float32-document.ts';
import type { TrainResult } from './train.ts';
import { disposeNetwork, initNetwork, parameterTensors, restoreTensors, withParameterTensors, type NetworkParams, type NetworkShape } from './network.ts';

/** An ensemble's parameters, each member's in parameterTensors order (TrainOptions.keepParameters gives them). */
export interface TrainedModel {
  members: HostTensor[][];
  /** Under centering, each member's initial parameters (the network predicts f − f₀); absent otherwise. */
  initial?: HostTensor[][];
}

const TRAINED_MODEL = { magic: 'NTKMODEL1', name: 'trained-model file' };

/** The model as one self-checking buffer (float32-document.ts, as checkpoints). */
export function encodeTrainedModel(model: TrainedModel): Uint8Array {
  checkTrainedModel(model);
  return encodeFloat32Document(TRAINED_MODEL, model);
}

export function decodeTrainedModel(bytes: Uint8Array): TrainedModel {
  const model = decodeFloat32Document(TRAINED_MODEL, bytes) as TrainedModel;
  checkTrainedModel(model);
  return model;
}

/** A model file's contents from a run trained with keepParameters (its members' parameters, and initial ones when centering). */
export function trainedModelOf(result: Pick<TrainResult, 'members'>): TrainedModel {
  const members = result.members.map((member, i) => {
    if (!member.parameters) throw new Error(`member ${i} has no parameters: train with keepParameters: true`);
    return member.parameters;
  });
  const centered = result.members.every((member) => member.initialParameters);
  return { members, ...(centered && { initial: result.members.map((member) => member.initialParameters!) }) };
}

function checkTrainedModel({ members, initial }: TrainedModel): void {
  if (!Array.isArray(members) || members.length === 0) throw new RangeError('a trained model needs at least one member');
  if (initial && initial.length !== members.length) throw new RangeError(`a trained model's initial parameters are for ${initial.length} members, its members ${members.length}`);
}

/**
 * The network with the given parameters (parameterTensors order), checked against the shapes `arch` and `shape`
 * give. Dispose it with disposeNetwork.
 */
export function networkParamsFrom(arch: Architecture, saved: HostTensor[], shape: NetworkShape): NetworkParams {
  // The layer structure comes from an initialization (seed irrelevant): the same rules give the shapes to check.
  const template = initNetwork(arch, { ...shape, seed: 0 });
  try {
    return withParameterTensors(template, restoreTensors(saved, parameterTensors(template)));
  } finally {
    disposeNetwork(template);
  }
}

/** networkParamsFrom for every member (and every initial network, when centering). */
export function trainedNetworks(arch: Architecture, model: TrainedModel, shape: NetworkShape): { members: NetworkParams[]; initial?: NetworkParams[] } {
  const built: NetworkParams[] = [];
  try {
    for (const saved of [...model.members, ...(model.initial ?? [])]) built.push(networkParamsFrom(arch, saved, shape));
  } catch (error) {
    built.forEach(disposeNetwork); // a file that does not fit the architecture leaks nothing
    throw error;
  }
  const members = built.slice(0, model.members.length);
  return { members, ...(model.initial && { initial: built.slice(model.members.length) }) };
}
