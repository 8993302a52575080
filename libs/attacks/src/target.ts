/**
 * A model as an attack sees it: outputs and vector–Jacobian products on batches of flattened inputs (n rows of
 * `features` numbers, row-major). Finite networks (@ntk/nets, tfjs gradients) and kernel predictors
 * f(x) = K(x, X)·α (@ntk/kernels, the kernel recursions differentiated by hand) both implement it, so every
 * attack runs on either.
 */
export interface AttackTarget {
  /** Outputs per input (logits or regression outputs; the largest is the predicted class). */
  classes: number;
  /** Numbers per flattened input. */
  features: number;
  /** n × classes outputs. */
  outputs(x: Float64Array, n: number): Promise<Float64Array>;
  /** ∂/∂x of Σ_i Σ_k adjoint[i·classes + k]·f_k(x_i): n × features. */
  inputGradient(x: Float64Array, n: number, adjoint: Float64Array): Promise<Float64Array>;
}
