/** A function name is a DNS label (RFC 1123): lower case letters, digits and dashes, at most 63. */
export const FUNCTION_NAME_PATTERN = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$";
const NAME = new RegExp(FUNCTION_NAME_PATTERN);

export function isFunctionName(name: string): boolean {
  return NAME.test(name);
}
