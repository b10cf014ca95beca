// The entry point of a data-path worker_thread (workers.ts starts it).
import { runWorker } from './workers.js';

runWorker();
