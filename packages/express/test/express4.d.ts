// `express4` is Express 4 installed under an alias (devDependency) to test the adapter on both majors.
// Its API surface used here is the same as Express 5's, so the v5 types describe it.
declare module 'express4' {
  import express from 'express';
  export default express;
}
