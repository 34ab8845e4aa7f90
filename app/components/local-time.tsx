import { useHydrated } from "~/servers/components";
import { formatUtc } from "~/access/format";

const localFormat = (ms: number) =>
  new Intl.DateTimeFormat(undefined, {
    year: "numeric",
    month: "short",
    day: "numeric",
    hour: "2-digit",
    hourCycle: "h23",
    minute: "2-digit",
    second: "2-digit",
    timeZoneName: "short",
  }).format(new Date(ms));

/**
 * A moment, to the second, on one line: in UTC (said so) as the server renders it, then in the
 * reader's own time zone once the page has hydrated (the server cannot know that zone, and
 * rendering it there would make the first client render disagree with the HTML).
 */
export function LocalTime({ ms }: { ms: number }) {
  const hydrated = useHydrated();
  const iso = new Date(ms).toISOString();
  return (
    <time dateTime={iso} title={formatUtc(ms)} className="time">
      {hydrated ? localFormat(ms) : formatUtc(ms)}
    </time>
  );
}
