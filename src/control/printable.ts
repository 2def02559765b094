// SPDX-License-Identifier: Apache-2.0
// Text that reaches a terminal or a log line: values from manifests, CNI_ARGS (K8S_POD_NAME) or the datastore
// may carry control characters (ESC sequences that rewrite the screen, a CR that hides what precedes it) and
// URLs may carry datastore credentials. Every message and table cell goes through these before it is printed.

// C0 and C1 controls, DEL, and the Unicode line separators and bidirectional overrides that reorder text.
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

function escapeChar(c: string): string {
  const code = c.charCodeAt(0);
  if (c === '\n') return '\\n';
  if (c === '\r') return '\\r';
  if (c === '\t') return '\\t';
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** The text with every control character written as an escape (\n, \x1b, \u202e): one inert line. */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, escapeChar);
}

/** At most `max` characters of the text, with how much was cut, so that a 20 MB value prints as one short line. */
export function truncated(text: string, max = 200): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length} characters)`;
}

const SECRET_PARAMS = /([?&;](?:password|passwd|pass|token|secret|auth|authorization)=)[^&;#\s"']*/gi;
// scheme://user:password@host -> scheme://user:***@host (also inside a longer message).
const USERINFO = /([a-z][a-z0-9+.-]*:\/\/)([^\s/@:"']*):[^\s/@"']*@/gi;

/** The text with datastore credentials (URL passwords, password/token query parameters) replaced by ***. */
export function redactCredentials(text: string): string {
  return text.replace(USERINFO, '$1$2:***@').replace(SECRET_PARAMS, '$1***');
}

/** For one-line messages to people: credentials redacted, control characters escaped. */
export function safeMessage(text: string): string {
  return printable(redactCredentials(text));
}
