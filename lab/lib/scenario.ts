// The lab's scenarios are the planner's too (`bft2 plan`): their format lives in
// src/plan/scenario.ts, one schema for both.
export * from '../../src/plan/scenario.ts';
