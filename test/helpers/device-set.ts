/**
 * The stock providers a test file opened, destroyed in its `after` hook even when a test
 * failed halfway: a live provider retries its server forever, and its timers would keep the
 * file's process (and the whole run) from ending.
 */
import { connectDevice, type Device } from './providers.js';

export class DeviceSet {
  readonly #devices = new Set<Device>();

  async connect(...args: Parameters<typeof connectDevice>): Promise<Device> {
    const device = await connectDevice(...args);
    this.#devices.add(device);
    return device;
  }

  destroy(device: Device): void {
    this.#devices.delete(device);
    device.destroy();
  }

  destroyAll(): void {
    for (const device of this.#devices) device.destroy();
    this.#devices.clear();
  }
}
