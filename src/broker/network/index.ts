export { type BadFrame, FrameDecoder, type NextFrame } from './frame-decoder.ts';
export {
  type Connection,
  type FrameResponse,
  type Listener,
  type ListenerOptions,
  type ListenerStats,
  type NetworkLogger,
  silentLogger,
  startListener,
} from './listener.ts';
