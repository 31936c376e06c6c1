/** Writes functions/function.schema.json: `bun src/functions/write-schema.ts`. */
import { join } from "node:path";
import { functionJsonSchema } from "./json-schema.ts";

const out = join(import.meta.dir, "../../functions/function.schema.json");
await Bun.write(out, `${JSON.stringify(functionJsonSchema(), null, 2)}\n`);
console.log(`wrote ${out}`);
