import { cloneElement, isValidElement, type ReactElement, type ReactNode } from "react";

/** Field labels one input and shows, next to it, what the API said is wrong with it. */
export function Field({ name, label, error, hint, children }: { name: string; label: ReactNode; error?: string; hint?: ReactNode; children: ReactElement<Record<string, unknown>> }) {
  const id = `f-${name.replace(/[^A-Za-z0-9]/g, "-")}`;
  const described = [error ? `${id}-error` : "", hint ? `${id}-hint` : ""].filter(Boolean).join(" ") || undefined;
  const input = isValidElement(children)
    ? cloneElement(children, { id, name, "aria-invalid": error ? true : undefined, "aria-describedby": described })
    : children;
  return (
    <div className={`field ${error ? "has-error" : ""}`}>
      <label htmlFor={id}>{label}</label>
      {input}
      {hint ? (
        <div className="hint" id={`${id}-hint`}>
          {hint}
        </div>
      ) : null}
      {error ? (
        <div className="field-error" id={`${id}-error`} role="alert">
          {error}
        </div>
      ) : null}
    </div>
  );
}
