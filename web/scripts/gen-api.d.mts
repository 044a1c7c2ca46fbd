/** The generated sources as the contracts give them now. */
export function openapiTypes(): Promise<string>;
export function eventTypes(): Promise<string>;
