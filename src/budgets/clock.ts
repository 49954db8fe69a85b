/** Where the budgets read the time: periods, resets and alerts all follow it. */
export interface Clock {
  now(): Date;
}

/** Injection token of the Clock; tests provide a fake one through AppModule.forRoot. */
export const CLOCK = Symbol('CLOCK');

/** The real time. */
export const systemClock: Clock = { now: () => new Date() };
