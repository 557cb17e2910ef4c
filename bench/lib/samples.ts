/** A growing buffer of latency samples (ms); `take()` hands them over and starts again. */
export class Samples {
  #data = new Float64Array(1 << 16);
  #count = 0;

  add(value: number): void {
    if (this.#count === this.#data.length) {
      const bigger = new Float64Array(this.#data.length * 2);
      bigger.set(this.#data);
      this.#data = bigger;
    }
    this.#data[this.#count++] = value;
  }

  take(): Float64Array {
    const taken = this.#data.slice(0, this.#count);
    this.#count = 0;
    return taken;
  }
}
