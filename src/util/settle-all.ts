// Running several transfers as one: the first failure stops the others.

/** Like Promise.all, but on the first failure aborts `stop` and waits for the rest to end. */
export async function settleAll(runs: Promise<void>[], stop: AbortController): Promise<void> {
  let first: { err: unknown } | undefined;
  await Promise.all(
    runs.map((r) =>
      r.catch((err) => {
        if (!first) {
          first = { err };
          stop.abort(err);
        }
      }),
    ),
  );
  if (first) throw first.err;
}
