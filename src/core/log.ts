// One structured line per dedupe decision. JSON on stderr so stdout stays
// clean for --json output; the CLI keeps it quiet unless --verbose.

export interface DedupeDecision {
  eventType: string;
  provider: string;
  uniqueKey: string;
  uniqueValue: string;
  clientId: string;
  leadId: string | null;
  messageId: string;
  deduped: boolean;
  jobsEnqueued?: number;
}

export interface DedupeLogger {
  logDecision(decision: DedupeDecision): void;
}

export const silentLogger: DedupeLogger = { logDecision: () => undefined };

export function createJsonLogger(write: (line: string) => void = (line) => process.stderr.write(line)): DedupeLogger {
  return {
    logDecision(decision) {
      write(`${JSON.stringify({ level: "info", msg: decision.deduped ? "dedupe hit" : "message created", time: new Date().toISOString(), ...decision })}\n`);
    },
  };
}
