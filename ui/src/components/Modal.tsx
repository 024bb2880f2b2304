// A modal on the native <dialog> element: focus is trapped, Esc closes, the page
// behind is inert.

import type { ComponentChildren } from 'preact';
import { useEffect, useRef } from 'preact/hooks';
import { Icon } from './Icon';

export function Modal(props: {
  title: string;
  onClose: () => void;
  children: ComponentChildren;
  footer?: ComponentChildren;
  size?: 'small' | 'medium' | 'large';
  testid?: string;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
    return () => {
      if (d?.open) d.close();
    };
  }, []);
  return (
    <dialog
      ref={ref}
      class={`modal modal-${props.size ?? 'medium'}`}
      data-testid={props.testid}
      aria-label={props.title}
      onCancel={(e) => {
        e.preventDefault();
        props.onClose();
      }}
      onMouseDown={(e) => {
        // A press on the backdrop (the dialog element itself) closes.
        const d = ref.current;
        if (d && e.target === d) {
          const r = d.getBoundingClientRect();
          const inside = e.clientX >= r.left && e.clientX <= r.right && e.clientY >= r.top && e.clientY <= r.bottom;
          if (!inside) props.onClose();
        }
      }}
    >
      <div class="modal-head">
        <h2>{props.title}</h2>
        <button type="button" class="btn-icon" aria-label="Close" onClick={props.onClose}>
          <Icon name="close" />
        </button>
      </div>
      <div class="modal-body">{props.children}</div>
      {props.footer ? <div class="modal-foot">{props.footer}</div> : null}
    </dialog>
  );
}
