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
  initNetwork,
  parameterTensors,
  withParameterTensors,
  type NetworkParams,
  type NetworkShape,
} from './network.ts';
export { lossAndGradients, mseLoss, sgdStep, trainNetwork, type TrainOptions, type TrainResult } from './train.ts';
export { empiricalNngp, empiricalNtk, type EmpiricalKernelOptions, type InputRows, type KernelMatrix } from './empirical.ts';
