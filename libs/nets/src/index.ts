export {
  hasWeights,
  isConv,
  isDense,
  layerFunctions,
  type ConvParams,
  type DenseParams,
  type LayerFunctions,
  type LayerParams,
  type LayerSizes,
  type NoParams,
} from './layers.ts';
export {
  applyNetwork,
  disposeNetwork,
  exampleShape,
  hostTensors,
  initNetwork,
  parameterTensors,
  withParameterTensors,
  type NetworkParams,
  type NetworkShape,
} from './network.ts';
export {
  crossEntropyLoss,
  dataLoss,
  lossAndGradients,
  mseLoss,
  weightDecayFactors,
  weightDecayPenalty,
  type LossKind,
  type Objective,
  type WeightDecayKind,
} from './objective.ts';
export { sgdStep, type SgdOptions } from './optimizer.ts';
export { maxLearningRate, trainingNtkLargestEigenvalue, type NtkSource, type TrainingNtkOptions } from './learning-rate.ts';
export { decodeCheckpoint, encodeCheckpoint, type FinishedMember, type HostTensor, type MemberOutputs, type TrainingCheckpoint } from './checkpoint.ts';
export { ensembleSizeCurve, type CurvePoint, type EnsembleCurve, type LearningCurve, type LearningCurveState } from './curves.ts';
export { ensembleOutputs, type EvaluationMetrics } from './evaluation.ts';
export { trainNetwork, type EarlyStopping, type MemberResult, type TrainOptions, type TrainResult, type WeightDecay } from './train.ts';
export {
  empiricalNngp,
  empiricalNtk,
  empiricalNtkLargestEigenvalue,
  type EmpiricalKernelOptions,
  type InputRows,
  type KernelMatrix,
  type NtkEigenvalueOptions,
} from './empirical.ts';
export { networkAttackTarget, type NetworkAttackTargetOptions } from './attack-target.ts';
export { decodeTrainedModel, encodeTrainedModel, networkParamsFrom, trainedModelOf, trainedNetworks, type TrainedModel } from './trained-model.ts';
