#include "work_service/pieces/piece.h"

namespace pieces {

std::unique_ptr<Piece> MakePiece(int number, const PieceEnv& env) {
  switch (number) {
    case 1:
      return MakeEventLoopPiece(env);
    case 2:
      return MakePoolPiece(env);
    case 3:
      return MakeDrainingPiece(env);
    case 4:
      return MakeRacyCachePiece(env);
    case 5:
      return MakeKeyedCondVarPiece(env);
    default:
      return nullptr;
  }
}

}  // namespace pieces
