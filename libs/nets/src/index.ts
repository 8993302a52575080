export { isDense, layerFunctions, type DenseParams, type LayerFunctions, type LayerParams, type LayerSizes, type NoParams } from './layers.ts';
export {
  applyNetwork,
  disposeNetwork,
  initNetwork,
  parameterTensors,
  withParameterTensors,
  type NetworkParams,
  type NetworkShape,
} from './network.ts';
export { lossAndGradients, mseLoss, sgdStep, trainNetwork, type TrainOptions, type TrainResult } from './train.ts';
