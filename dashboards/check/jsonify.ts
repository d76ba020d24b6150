// JSON carries enums as their string values.
export type Jsonify<T> = T extends string
  ? `${T}`
  : T extends Array<infer U>
    ? Array<Jsonify<U>>
    : T extends object
      ? { [K in keyof T]: Jsonify<T[K]> }
      : T;
