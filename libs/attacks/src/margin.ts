// The attack loss: the Carlini–Wagner margin on the outputs, and its derivative for a vector–Jacobian product.

/**
 * Per point, m = max_{j≠y} f_j − f_y (positive exactly when the point is misclassified; ties count as correct, as
 * accuracy's argmax takes the first largest), and the adjoint ∂m/∂f: +1 at the runner-up j*, −1 at the label y,
 * 0 elsewhere (n × classes). The margin has the outputs' own scale and no softmax, so it suits logits, MSE-trained
 * regressors and kernel predictors of one-hot-centered targets alike; maximizing it pushes the runner-up past the
 * label.
 */
export function attackMargins(outputs: Float64Array, labels: ArrayLike<number>, classes: number): { margins: Float64Array; adjoint: Float64Array } {
  const n = labels.length;
  if (outputs.length !== n * classes) throw new RangeError(`outputs should be ${n} × ${classes}, has ${outputs.length} values`);
  const margins = new Float64Array(n);
  const adjoint = new Float64Array(n * classes);
  for (let i = 0; i < n; i++) {
    const offset = i * classes;
    const label = labels[i]!;
    let runnerUp = label === 0 ? 1 : 0;
    for (let j = 0; j < classes; j++) if (j !== label && outputs[offset + j]! > outputs[offset + runnerUp]!) runnerUp = j;
    margins[i] = outputs[offset + runnerUp]! - outputs[offset + label]!;
    adjoint[offset + runnerUp] = 1;
    adjoint[offset + label] = -1;
  }
  return { margins, adjoint };
}

/** Checks labels against the number of classes where they enter an attack. */
export function checkLabels(labels: ArrayLike<number>, classes: number): void {
  if (!(Number.isInteger(classes) && classes >= 2)) throw new RangeError(`an attack needs a target with at least 2 classes, got ${classes}`);
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i]!;
    if (!(Number.isInteger(label) && label >= 0 && label < classes)) {
      throw new RangeError(`labels[${i}] must be an integer in [0, ${classes}), got ${label}`);
    }
  }
}
