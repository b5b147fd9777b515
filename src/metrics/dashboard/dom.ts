/**
 * The few browser APIs the dashboard uses, declared here so the browser code
 * compiles in this Node project without adding the DOM library to every file.
 */
export interface Ctx2D {
  fillStyle: string;
  strokeStyle: string;
  lineWidth: number;
  font: string;
  textAlign: string;
  textBaseline: string;
  beginPath(): void;
  moveTo(x: number, y: number): void;
  lineTo(x: number, y: number): void;
  stroke(): void;
  fillRect(x: number, y: number, w: number, h: number): void;
  fillText(text: string, x: number, y: number): void;
  setTransform(a: number, b: number, c: number, d: number, e: number, f: number): void;
  setLineDash(segments: number[]): void;
}

export interface El {
  textContent: string | null;
  className: string;
  value: string;
  readonly dataset: Record<string, string | undefined>;
  readonly style: Record<string, string>;
  appendChild(child: El): El;
  replaceChildren(...children: El[]): void;
  setAttribute(name: string, value: string): void;
  addEventListener(type: string, listener: () => void): void;
}

export interface Canvas extends El {
  width: number;
  height: number;
  readonly clientWidth: number;
  readonly clientHeight: number;
  getContext(kind: '2d'): Ctx2D | null;
}

export interface Doc {
  getElementById(id: string): El | null;
  createElement(tag: string): El;
}

export interface Win {
  readonly devicePixelRatio: number;
  readonly location: { hash: string };
  readonly sessionStorage: { getItem(k: string): string | null; setItem(k: string, v: string): void };
  addEventListener(type: string, listener: () => void): void;
}
