/**
 * Fastify's refusals of a request (schema validation, unparsable or oversized bodies, a content type no route reads)
 * as a 4xx that names the field at fault and the fix. Anything else is not a bad request: undefined.
 */

interface AjvIssue {
  instancePath?: string;
  keyword?: string;
  params?: Record<string, unknown>;
  message?: string;
}

export interface BadRequest {
  status: number;
  field: string;
  message: string;
  fix: string;
}

const FIX = 'see the route\'s expected body in README ("Control API")';

/** `body.dryRun` for instancePath `/dryRun` in context `body`. */
function fieldOf(context: string, instancePath: string | undefined, extra?: unknown): string {
  const parts = (instancePath ?? '').split('/').filter(Boolean);
  if (typeof extra === 'string') parts.push(extra);
  return [context, ...parts].join('.');
}

function describeIssue(context: string, issue: AjvIssue): { field: string; message: string } {
  const p = issue.params ?? {};
  switch (issue.keyword) {
    case 'additionalProperties': {
      const field = fieldOf(context, issue.instancePath, p.additionalProperty);
      return { field, message: `${field} is not a field this route takes` };
    }
    case 'required': {
      const field = fieldOf(context, issue.instancePath, p.missingProperty);
      return { field, message: `${field} is required` };
    }
    case 'type': {
      const field = fieldOf(context, issue.instancePath);
      return { field, message: `${field} must be ${String(p.type)}` };
    }
    case 'enum': {
      const field = fieldOf(context, issue.instancePath);
      return { field, message: `${field} must be one of ${(p.allowedValues as unknown[] | undefined)?.map((v) => JSON.stringify(v)).join(', ') ?? 'the allowed values'}` };
    }
    default: {
      const field = fieldOf(context, issue.instancePath);
      return { field, message: `${field} ${issue.message ?? 'is not valid'}` };
    }
  }
}

export function describeBadRequest(err: { statusCode?: number; validation?: unknown; validationContext?: string; message: string; code?: string }): BadRequest | undefined {
  if (Array.isArray(err.validation)) {
    const issues = err.validation as AjvIssue[];
    // anyOf schemas (a body or none) report every branch; the most specific issue is the one naming a field.
    const best = issues.find((i) => i.keyword === 'additionalProperties' || i.keyword === 'required' || (i.instancePath ?? '') !== '') ?? issues[0] ?? {};
    const { field, message } = describeIssue(err.validationContext ?? 'body', best);
    return { status: 400, field, message, fix: FIX };
  }
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { status: 413, field: 'body', message: 'body is larger than the API accepts (64 KiB)', fix: 'send the route\'s JSON body only; no route takes more than a few hundred bytes' };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { status: 415, field: 'content-type', message: `content-type is not one this API reads: ${err.message}`, fix: 'send the body as JSON with content-type: application/json' };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { status: 400, field: 'body', message: 'body is empty but content-type is application/json', fix: 'send a JSON object ({} when the route takes no fields) or leave out the content-type' };
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return { status: 400, field: 'body', message: `body is not valid JSON: ${err.message}`, fix: FIX };
  }
  if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) {
    // JSON.parse's SyntaxError reaches here with status 400 and no code of its own.
    const field = /JSON/i.test(err.message) ? 'body' : 'request';
    return { status: err.statusCode, field, message: field === 'body' ? `body is not valid JSON: ${err.message}` : err.message, fix: FIX };
  }
  return undefined;
}
