/**
 * Compile-time assertions for the type tests in this folder (checked by `tsc -p tsconfig.test.json`,
 * never run). `Equals` is exact: `any`, optionality and readonly-ness all count.
 */
export type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false;

/** Fails to compile unless `T` is `true`. */
export function assertType<T extends true>(..._proof: T extends true ? [] : [never]): void {}
