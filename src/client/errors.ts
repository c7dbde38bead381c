/**
 * Client errors. Kafka error codes become `KafkaProtocolError`s whose `retriable` flag comes
 * from the generated error table (unknown codes are not retriable); retry decisions read that
 * flag and the error's class, never its message.
 */
import { errorInfo } from '../protocol/generated/errors.ts';

/** Base class of every error the client throws on purpose. */
export class KafkaClientError extends Error {
  /** True when repeating the operation may succeed. */
  readonly retriable: boolean;

  constructor(message: string, retriable: boolean, options?: ErrorOptions) {
    super(message, options);
    this.retriable = retriable;
  }
}

/**
 * A non-zero Kafka error code returned by a broker. `name` is Kafka's name for the code
 * (`NOT_LEADER_OR_FOLLOWER`), `retriable` is the generated table's flag.
 */
export class KafkaProtocolError extends KafkaClientError {
  readonly code: number;
  override readonly name: string;
  /** The broker's error message, when the response carried one. */
  readonly brokerMessage: string | null;
  /** What was being done (request and partition), as given to the constructor. */
  readonly context: string | undefined;

  constructor(code: number, context?: string, brokerMessage?: string | null) {
    const info = errorInfo(code);
    super(
      `${info.name} (${code})${context ? `: ${context}` : ''}${brokerMessage ? ` - ${brokerMessage}` : ''}`,
      info.retriable,
    );
    this.code = code;
    this.context = context;
    this.name = info.name;
    this.brokerMessage = brokerMessage ?? null;
  }
}

/** The connection to a broker failed or closed with requests in flight. Retriable. */
export class KafkaConnectionError extends KafkaClientError {
  override readonly name = 'KafkaConnectionError';
  constructor(message: string, options?: ErrorOptions) {
    super(message, true, options);
  }
}

/** A request got no response within `request.timeout.ms`. Retriable. */
export class KafkaRequestTimeoutError extends KafkaClientError {
  override readonly name = 'KafkaRequestTimeoutError';
  constructor(message: string) {
    super(message, true);
  }
}

/** A deadline of the client itself (`max.block.ms`, `delivery.timeout.ms`, ...) passed. Not retriable. */
export class KafkaTimeoutError extends KafkaClientError {
  override readonly name = 'KafkaTimeoutError';
  constructor(message: string) {
    super(message, false);
  }
}

/** The client was closed, or the operation was aborted through its AbortSignal. */
export class KafkaAbortError extends KafkaClientError {
  override readonly name = 'KafkaAbortError';
  constructor(message = 'aborted') {
    super(message, false);
  }
}

/** A configuration value out of range. */
export class KafkaConfigError extends KafkaClientError {
  override readonly name = 'KafkaConfigError';
  constructor(message: string) {
    super(message, false);
  }
}

/**
 * The transactional id was taken over by a newer producer (PRODUCER_FENCED, or
 * INVALID_PRODUCER_EPOCH / TRANSACTION_COORDINATOR_FENCED from a transactional request).
 * Fatal: the producer can only be closed.
 */
export class ProducerFencedError extends KafkaProtocolError {
  constructor(code: number, context?: string, brokerMessage?: string | null) {
    super(code, context, brokerMessage);
  }
}

/**
 * The producer cannot go on (fenced, not authorized, a broker too old, an invalid transaction
 * state): every later call fails with this error; only `close()` is left. `cause` is the error
 * that made it so.
 */
export class TransactionFatalError extends KafkaClientError {
  override readonly name = 'TransactionFatalError';
  constructor(message: string, options?: ErrorOptions) {
    super(message, false, options);
  }
}

/**
 * The current transaction cannot commit (a record failed, an offset commit was rejected, the
 * coordinator said TRANSACTION_ABORTABLE): call `abortTransaction()`, then start again.
 * `cause` is the first failure.
 */
export class TransactionAbortableError extends KafkaClientError {
  override readonly name = 'TransactionAbortableError';
  constructor(message: string, options?: ErrorOptions) {
    super(message, false, options);
  }
}

/** A transactional call in the wrong state (send before beginTransaction, commit twice, ...). */
export class TransactionStateError extends KafkaClientError {
  override readonly name = 'TransactionStateError';
  constructor(message: string) {
    super(message, false);
  }
}

/** Throws a KafkaProtocolError when `code` is not 0. */
export function checkErrorCode(code: number, context?: string, brokerMessage?: string | null): void {
  if (code !== 0) throw new KafkaProtocolError(code, context, brokerMessage);
}

export function isRetriable(e: unknown): boolean {
  return e instanceof KafkaClientError && e.retriable;
}

/** `retries`, `retry.backoff.ms`, `retry.backoff.max.ms`. */
export interface RetryOptions {
  /** How many times a failed, retriable operation is repeated. */
  retries: number;
  /** `retry.backoff.ms`: the first wait between attempts. */
  retryBackoffMs: number;
  /** `retry.backoff.max.ms`: the cap of the exponential wait. */
  retryBackoffMaxMs: number;
}

/**
 * Kafka's exponential backoff: `initial * 2^attempt`, capped at `max`, with +-20% jitter
 * (`jitter` in [0, 1) comes from the injected Random).
 */
export function backoffMs(attempt: number, initialMs: number, maxMs: number, jitter: number): number {
  if (maxMs <= initialMs) return initialMs;
  const exp = Math.min(initialMs * 2 ** attempt, maxMs);
  const factor = 0.8 + 0.4 * jitter;
  return Math.min(maxMs, Math.max(0, Math.round(exp * factor)));
}
