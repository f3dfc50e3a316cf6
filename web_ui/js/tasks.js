// One quiet line while a background task of the agent (outbox, sweeps, pollers, ...) is
// failing: the supervisor retries it; this says so instead of failing silently.

const EVERY_MS = 15000;

export function watchTasks(el, fetchTasks) {
  const check = async () => {
    try {
      const { tasks } = await fetchTasks();
      const failing = tasks.filter((t) => t.failing);
      el.hidden = failing.length === 0;
      el.textContent = failing.length === 0 ? ""
        : `${failing.map((t) => t.name).join(", ")} failing (retrying): ${failing[0].last_error}`;
      el.title = failing.map((t) => `${t.name}: ${t.consecutive_failures}× — ${t.last_error}`).join("\n");
    } catch {
      // The agent unreachable is the offline line's job.
    }
  };
  check();
  return setInterval(check, EVERY_MS);
}
