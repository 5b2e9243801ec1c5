// Where new tensors live: one process-wide default device, resolved in one place from what a user asks
// for (`--device cpu|cuda|auto`, or LIVERSTIFF_DEVICE for child processes, which inherit it). Creation
// functions use it when a call names no device; reading values back copies to the CPU (native side).
import type { Device } from "./dtype.ts";
import { native } from "./native.ts";

export type DeviceRequest = "cpu" | "cuda" | "auto" | `cuda:${number}`;

const DEVICE_PATTERN = /^(cpu|cuda|auto|cuda:\d+)$/;

/**
 * The device a request means here: "auto" is CUDA when the linked libtorch has it and a GPU is visible,
 * else the CPU; "cuda" (or "cuda:N") where there is none is an error that says why and what to do.
 */
export function resolveDevice(request: string): Device {
  if (!DEVICE_PATTERN.test(request))
    throw new Error(`unknown device "${request}": use cpu, cuda, cuda:N or auto`);
  const available = native.cudaAvailable();
  if (request === "auto") return available ? "cuda" : "cpu";
  if (request === "cpu") return "cpu";
  if (!available)
    throw new Error(
      `device ${request} asked for, but the linked libtorch has no CUDA or sees no GPU (${native.version().cuda ? "a CUDA build, no GPU visible" : "a CPU-only build"}); build the addon against a CUDA libtorch (LIBTORCH=/path/to/libtorch bash scripts/setup.sh) or use --device cpu`,
    );
  const index = request === "cuda" ? 0 : Number(request.slice(5));
  if (index >= native.cudaDeviceCount())
    throw new Error(`device ${request} asked for, but only ${native.cudaDeviceCount()} GPU(s) are visible`);
  return request as Device;
}

let current: Device = process.env.LIVERSTIFF_DEVICE ? resolveDevice(process.env.LIVERSTIFF_DEVICE) : "cpu";

/** The device new tensors go to when a call names none (default "cpu"). */
export function defaultDevice(): Device {
  return current;
}

/** Sets the default device, and LIVERSTIFF_DEVICE so that worker processes started later use it too. */
export function setDefaultDevice(device: Device): void {
  current = device;
  process.env.LIVERSTIFF_DEVICE = device;
}
