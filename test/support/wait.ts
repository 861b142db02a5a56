export { waitFor } from '../../src/common/testing/wait-for';

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
